from lifecycle.privacy import mask_email, mask_phone, redact


def test_masks_keep_only_what_ops_need_to_tell_addresses_apart() -> None:
    assert mask_email("ann.fischer@example.com") == "a***@example.com"
    assert mask_phone("+31612345678") == "+31*******78"


def test_redact_masks_addresses_in_provider_messages() -> None:
    text = "Email address is not verified: ann.fischer@example.com, +31 6 1234 5678"

    cleaned = redact(text)

    assert "ann.fischer@example.com" not in cleaned
    assert "1234 5678" not in cleaned
    assert "a***@example.com" in cleaned
