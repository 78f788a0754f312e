"""Document PDFs in S3 (moto): encryption, content type, metadata, unguessable keys, short links;
and the whole DocumentService on moto's DynamoDB and S3."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.s3_documents import S3DocumentStore

BUCKET = "ordercare-test-documents"


@pytest.fixture
def s3(settings_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-central-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        yield client


def test_put_encrypts_types_and_links_the_pdf(s3: Any) -> None:
    store = S3DocumentStore(BUCKET)
    key = store.new_key("ord_1")
    store.put_pdf(key, b"%PDF-1.4 test", order_id="ord_1", document_id="doc_1", number="INV-2026-000001")
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/pdf"
    assert head["Metadata"] == {"order-id": "ord_1", "document-id": "doc_1", "number": "INV-2026-000001"}
    assert store.get_pdf(key) == b"%PDF-1.4 test"


def test_kms_encryption_when_a_key_is_configured(s3: Any) -> None:
    kms_key = boto3.client("kms", region_name="eu-central-1").create_key()["KeyMetadata"]["KeyId"]
    store = S3DocumentStore(BUCKET, kms_key_id=kms_key)
    key = store.new_key("ord_1")
    store.put_pdf(key, b"%PDF", order_id="ord_1", document_id="doc_1", number="INV-1")
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert kms_key in head["SSEKMSKeyId"]


def test_keys_are_not_guessable() -> None:
    store = S3DocumentStore(BUCKET, client=object())
    keys = {store.new_key("ord_1") for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"documents/ord_1/[A-Za-z0-9_-]{32}\.pdf", key)  # 24 random bytes


def test_presigned_links_expire_within_300_seconds(s3: Any) -> None:
    store = S3DocumentStore(BUCKET)
    key = store.new_key("ord_1")
    store.put_pdf(key, b"%PDF-1.4 link", order_id="ord_1", document_id="doc_1", number="INV-2026-000001")
    url = store.presigned_url(key, filename="INV-2026-000001.pdf")
    query = parse_qs(urlparse(url).query)
    # moto does not check signatures or expiry: check what the link asks for
    assert int(query["X-Amz-Expires"][0]) <= 300
    assert query["response-content-disposition"] == ['attachment; filename="INV-2026-000001.pdf"']
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert (
        int(parse_qs(urlparse(store.presigned_url(key, filename="x.pdf", expires_in=60)).query)["X-Amz-Expires"][0])
        == 60
    )
    for seconds in (0, 301, 3600):
        with pytest.raises(ValueError, match="300"):
            store.presigned_url(key, filename="x.pdf", expires_in=seconds)
    hostile = store.presigned_url(key, filename='a"; filename="evil.exe')
    assert parse_qs(urlparse(hostile).query)["response-content-disposition"] == [
        'attachment; filename="afilenameevil.exe"'
    ]


def test_the_service_on_moto_dynamodb_and_s3(settings_env: None) -> None:
    from chalicelib.adapters.dynamo import models
    from chalicelib.adapters.dynamo.documents import DynamoDocumentRecords
    from chalicelib.adapters.dynamo.schema import ensure_table
    from chalicelib.services.documents import DocumentService
    from tests.document_fakes import SELLER, FixedClock, paid_order, refunded

    with mock_aws():
        ensure_table(boto3.client("dynamodb", region_name="eu-central-1"), "ordercare-docs")
        client = boto3.client("s3", region_name="eu-central-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        models.configure("ordercare-docs", "eu-central-1")
        service = DocumentService(DynamoDocumentRecords(), S3DocumentStore(BUCKET), FixedClock(), SELLER)
        order = paid_order()
        invoice, receipt = service.issue_for_payment(order)
        assert service.issue_for_payment(order) == [invoice, receipt]
        note = service.issue_credit_note(order, refunded(order, 500))
        assert [doc.number for doc in service.list_for_order(order.id)] == [
            "CN-2026-000001",
            "INV-2026-000001",
            "RCT-2026-000001",
        ]
        for document in (invoice, receipt, note):
            head = client.head_object(Bucket=BUCKET, Key=document.s3_key)
            assert head["Metadata"]["number"] == document.number
            assert client.get_object(Bucket=BUCKET, Key=document.s3_key)["Body"].read().startswith(b"%PDF-")
        url = service.download_url(invoice)
        assert url is not None and int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0]) <= 300
        # The invoice and the credit note also have their bare CII XML next to the PDF.
        for document in (invoice, note):
            head = client.head_object(Bucket=BUCKET, Key=document.xml_key)
            assert head["ContentType"] == "application/xml" and head["ServerSideEncryption"] == "AES256"
            xml = client.get_object(Bucket=BUCKET, Key=document.xml_key)["Body"].read()
            assert xml.startswith(b"<?xml") and document.number.encode() in xml
        xml_url = service.xml_url(note)
        assert xml_url is not None and int(parse_qs(urlparse(xml_url).query)["X-Amz-Expires"][0]) <= 300
        assert "response-content-type=application%2Fxml" in xml_url
        assert len(client.list_objects_v2(Bucket=BUCKET)["Contents"]) == 5
