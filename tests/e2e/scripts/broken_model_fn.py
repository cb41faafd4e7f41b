"""A serving script whose model_fn fails: the endpoint must end Failed with this traceback."""


def model_fn(model_dir):
    raise FileNotFoundError(f"no weights file named weights.bin in {model_dir}")
