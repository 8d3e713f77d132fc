"""boto3 against nubo's S3, driven by test/s3-clients.e2e.test.ts.

Usage: s3_boto3_flow.py ENDPOINT BUCKET WORKDIR MODE
Credentials come from the environment (AWS_ACCESS_KEY_ID, ...), as a user's
would. MODE "flow" runs the object flow; "refusals" the SigV4 negatives. Each
prints one JSON object on stdout for the test to check; the test, not this
script, decides what is right.
"""

import datetime
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.compat
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError
from boto3.s3.transfer import TransferConfig

if botocore.compat.HAS_CRT:
    import botocore.crt.auth

endpoint, bucket, workdir, mode = sys.argv[1:5]
REGION = "nubo-1"


def client(**kw):
    return boto3.client("s3", endpoint_url=endpoint, region_name=kw.pop("region", REGION),
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}), **kw)


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def error_code(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def flow():
    s3 = client()
    out = {}
    s3.create_bucket(Bucket=bucket)
    # 12 MiB through upload_fileobj with 5 MiB parts: a multipart upload of 3 parts.
    data = os.urandom(12 << 20)
    path = os.path.join(workdir, "boto3-up.bin")
    with open(path, "wb") as f:
        f.write(data)
    tc = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=2)
    with open(path, "rb") as f:
        s3.upload_fileobj(f, bucket, "big/upload.bin", Config=tc,
                          ExtraArgs={"Metadata": {"origin": "boto3"}, "ContentType": "application/octet-stream"})
    head = s3.head_object(Bucket=bucket, Key="big/upload.bin")
    out["multipartEtag"] = head["ETag"]
    out["partMd5s"] = [hashlib.md5(data[i:i + (5 << 20)]).hexdigest() for i in range(0, len(data), 5 << 20)]
    out["headMetadata"] = head["Metadata"]
    out["headLength"] = head["ContentLength"]
    down = os.path.join(workdir, "boto3-down.bin")
    s3.download_file(bucket, "big/upload.bin", down, Config=tc)
    with open(down, "rb") as f:
        out["downloadEqual"] = f.read() == data
    for k in ["tree/a/1", "tree/a/2", "tree/b/1", "tree/c", "tree/d/x/y"]:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="tree/", Delimiter="/",
                                                         PaginationConfig={"PageSize": 2})
    keys, prefixes, page_count = [], [], 0
    for p in pages:
        page_count += 1
        keys += [c["Key"] for c in p.get("Contents", [])]
        prefixes += [c["Prefix"] for c in p.get("CommonPrefixes", [])]
    out["listing"] = {"keys": keys, "prefixes": prefixes, "pages": page_count}
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned.txt"}, ExpiresIn=60)
    out["presignedPut"] = http("PUT", put_url, b"put through a boto3 presigned URL")[0]
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "presigned.txt"}, ExpiresIn=60)
    status, body = http("GET", get_url)
    out["presignedGet"] = [status, body.decode()]
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "tree/a/1"}, {"Key": "tree/c"}, {"Key": "never-was"}]})
    out["deleted"] = sorted(d["Key"] for d in deleted.get("Deleted", []))
    out["left"] = [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, Prefix="tree/").get("Contents", [])]
    paths = {}
    for k in ["../x", "/abs", "a/../../b", "..", "./."]:
        s3.put_object(Bucket=bucket, Key=k, Body=f"value of {k}".encode())
        paths[k] = s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode()
    out["pathKeys"] = paths
    out["nulKey"] = error_code(lambda: s3.put_object(Bucket=bucket, Key="nul\x00key", Body=b"x"))
    return out


class _Clock:
    """botocore's signers read datetime.datetime.utcnow(): this moves their clock only."""

    def __init__(self, offset):
        real = datetime.datetime

        class Shifted(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() + offset

        self.datetime = Shifted
        self.timedelta = datetime.timedelta
        self.timezone = datetime.timezone


def refusals():
    key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    out = {}
    put = lambda c: (lambda: c.put_object(Bucket=bucket, Key="refused", Body=b"x"))
    out["wrongSecret"] = error_code(put(client(aws_access_key_id=key, aws_secret_access_key="x" * 40)))
    out["unknownKey"] = error_code(put(client(aws_access_key_id="AKIAAAAAAAAAAAAAAAAA", aws_secret_access_key="x" * 40)))
    out["wrongRegion"] = error_code(put(client(region="us-east-1")))
    # Debian's boto3 signs with awscrt when it is installed: both signers' clocks move.
    signers = [botocore.auth] + ([botocore.crt.auth] if botocore.compat.HAS_CRT else [])
    try:
        for m in signers:
            m.datetime = _Clock(datetime.timedelta(minutes=-20))
        out["skewed"] = error_code(put(client()))
        # Signed 20 minutes ago for 60 s: expired when it arrives.
        late = client().generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "refused"}, ExpiresIn=60)
    finally:
        for m in signers:
            m.datetime = datetime
    status, body = http("PUT", late, b"too late")
    out["expiredPresigned"] = [status, body.decode()]
    # A request signed for another service (ec2) with botocore's own signer.
    creds = boto3.Session().get_credentials()
    req = AWSRequest(method="PUT", url=f"{endpoint}/{bucket}/refused", data=b"x",
                     headers={"x-amz-content-sha256": hashlib.sha256(b"x").hexdigest()})
    botocore.auth.SigV4Auth(creds, "ec2", REGION).add_auth(req)
    status, body = http("PUT", req.url, b"x", dict(req.headers.items()))
    out["wrongService"] = [status, body.decode()]
    return out


print(json.dumps(flow() if mode == "flow" else refusals()))
