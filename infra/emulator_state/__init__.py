"""The embedded emulator's state on disk: a journal of snapshots and the object bodies beside it."""
