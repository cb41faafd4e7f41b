"""A v3 user stages a local file in S3 through the SDK's session, in its default bucket.

Usage: upload_data.py <local file> <key prefix>
"""

import json
import sys

from sagemaker.core.helper.session_helper import Session

session = Session()
uri = session.upload_data(sys.argv[1], key_prefix=sys.argv[2])
print("RESULT " + json.dumps({"bucket": session.default_bucket(), "uri": uri}))
