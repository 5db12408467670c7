import contextlib
import logging
import sys

import pytest
import sqlalchemy as sa
from hypothesis import given, settings, strategies as st
from stdnum.cn import ric

from shared import pii
from shared.pii import (
    mask_contact,
    MASKERS,
    EncryptedString,
    PiiDecryptError,
    PiiLogFilter,
    PiiVault,
    configure_vault,
    generate_key,
    get_vault,
    install_log_filter,
    mask,
    mask_account,
    mask_email,
    mask_id_number,
    mask_name,
    mask_phone,
)

ID_NUMBER = "11010519491231002" + ric.calc_check_digit("11010519491231002" + "0")
ID_NUMBER_MASKED = "110***********002X"

OLD_KEY = generate_key()
NEW_KEY = generate_key()
INDEX_KEY = "blind-index-key-for-tests"


@pytest.fixture
def vault():
    return PiiVault([NEW_KEY], INDEX_KEY)


@pytest.fixture
def process_vault(monkeypatch, vault):
    # monkeypatch restores whatever vault the process had before this test.
    monkeypatch.setattr(pii, "_vault", None)
    configure_vault(vault)
    return vault


def test_id_number_fixture_is_valid():
    assert ID_NUMBER == "11010519491231002X"
    assert ric.is_valid(ID_NUMBER)


# Vault ------------------------------------------------------------------------

def test_generate_key_is_text_and_usable():
    key = generate_key()
    assert isinstance(key, str)
    assert len(key) == 44
    assert key != generate_key()
    assert PiiVault([key], INDEX_KEY).decrypt(PiiVault([key], INDEX_KEY).encrypt("x")) == "x"


@pytest.mark.parametrize("plaintext", [ID_NUMBER, "欧阳娜娜", "", "13812345678"])
def test_encrypt_decrypt_round_trip(vault, plaintext):
    token = vault.encrypt(plaintext)
    assert isinstance(token, str)
    assert plaintext not in token or plaintext == ""
    assert vault.decrypt(token) == plaintext


def test_encryption_is_randomised(vault):
    assert vault.encrypt(ID_NUMBER) != vault.encrypt(ID_NUMBER)


def test_encrypt_refuses_non_text(vault):
    with pytest.raises(TypeError):
        vault.encrypt(b"bytes")


def test_decrypt_with_wrong_key_raises_pii_decrypt_error(vault):
    token = PiiVault([OLD_KEY], INDEX_KEY).encrypt(ID_NUMBER)
    with pytest.raises(PiiDecryptError):
        vault.decrypt(token)


@pytest.mark.parametrize("token", ["not-a-token", "", "密文", "gAAAAA" + "A" * 80])
def test_decrypt_garbage_raises_pii_decrypt_error(vault, token):
    with pytest.raises(PiiDecryptError):
        vault.decrypt(token)


def test_decrypt_error_does_not_leak_token(vault):
    token = PiiVault([OLD_KEY], INDEX_KEY).encrypt(ID_NUMBER)
    with pytest.raises(PiiDecryptError) as excinfo:
        vault.decrypt(token)
    assert token not in str(excinfo.value)


def test_construction_requires_a_key():
    with pytest.raises(ValueError, match="at least one PII key"):
        PiiVault([], INDEX_KEY)


def test_construction_names_the_malformed_key_position_but_not_the_key():
    bad_key = "definitely-not-a-fernet-key"
    with pytest.raises(ValueError) as excinfo:
        PiiVault([NEW_KEY, bad_key], INDEX_KEY)
    assert "#2 of 2" in str(excinfo.value)
    assert bad_key not in str(excinfo.value)


@pytest.mark.parametrize("bad_key", ["", "short", "é" * 44, None, 12345])
def test_construction_rejects_any_malformed_first_key(bad_key):
    with pytest.raises(ValueError, match="#1 of 1"):
        PiiVault([bad_key], INDEX_KEY)


def test_construction_refuses_a_single_string_instead_of_a_list():
    with pytest.raises(ValueError, match="list"):
        PiiVault(NEW_KEY, INDEX_KEY)


@pytest.mark.parametrize("index_key", ["", None])
def test_construction_requires_an_index_key(index_key):
    with pytest.raises(ValueError, match="index key"):
        PiiVault([NEW_KEY], index_key)


def test_from_config_accepts_a_list():
    vault = PiiVault.from_config({"PII_KEYS": [NEW_KEY, OLD_KEY], "PII_INDEX_KEY": INDEX_KEY})
    assert vault.decrypt(PiiVault([OLD_KEY], INDEX_KEY).encrypt("a")) == "a"
    assert not vault.needs_rotation(PiiVault([NEW_KEY], INDEX_KEY).encrypt("a"))


def test_from_config_accepts_a_comma_separated_string():
    vault = PiiVault.from_config(
        {"PII_KEYS": f" {NEW_KEY} , {OLD_KEY},", "PII_INDEX_KEY": INDEX_KEY}
    )
    old_token = PiiVault([OLD_KEY], INDEX_KEY).encrypt("a")
    assert vault.decrypt(old_token) == "a"
    assert vault.needs_rotation(old_token)
    assert vault.blind_index("a") == PiiVault([OLD_KEY], INDEX_KEY).blind_index("a")


@pytest.mark.parametrize(
    "config, message",
    [
        ({"PII_INDEX_KEY": INDEX_KEY}, "at least one PII key"),
        ({"PII_KEYS": "", "PII_INDEX_KEY": INDEX_KEY}, "at least one PII key"),
        ({"PII_KEYS": " , ", "PII_INDEX_KEY": INDEX_KEY}, "at least one PII key"),
        ({"PII_KEYS": [NEW_KEY]}, "index key"),
    ],
)
def test_from_config_missing_settings(config, message):
    with pytest.raises(ValueError, match=message):
        PiiVault.from_config(config)


def test_key_rotation_end_to_end():
    old_vault = PiiVault([OLD_KEY], INDEX_KEY)
    rotating_vault = PiiVault([NEW_KEY, OLD_KEY], INDEX_KEY)
    new_only_vault = PiiVault([NEW_KEY], INDEX_KEY)

    old_token = old_vault.encrypt(ID_NUMBER)
    assert rotating_vault.decrypt(old_token) == ID_NUMBER
    with pytest.raises(PiiDecryptError):
        new_only_vault.decrypt(old_token)
    assert rotating_vault.needs_rotation(old_token) is True

    rotated = rotating_vault.rotate(old_token)
    assert rotated != old_token
    assert rotating_vault.needs_rotation(rotated) is False
    assert new_only_vault.decrypt(rotated) == ID_NUMBER
    with pytest.raises(PiiDecryptError):
        old_vault.decrypt(rotated)


def test_new_writes_use_the_first_key():
    token = PiiVault([NEW_KEY, OLD_KEY], INDEX_KEY).encrypt(ID_NUMBER)
    assert PiiVault([NEW_KEY], INDEX_KEY).decrypt(token) == ID_NUMBER
    with pytest.raises(PiiDecryptError):
        PiiVault([OLD_KEY], INDEX_KEY).decrypt(token)


def test_rotate_of_undecryptable_token_raises(vault):
    token = PiiVault([OLD_KEY], INDEX_KEY).encrypt(ID_NUMBER)
    with pytest.raises(PiiDecryptError):
        vault.rotate(token)


def test_needs_rotation_for_garbage_is_true(vault):
    assert vault.needs_rotation("not-a-token") is True


def test_blind_index_is_deterministic_hex_sha256(vault):
    index = vault.blind_index(ID_NUMBER)
    assert index == vault.blind_index(ID_NUMBER)
    assert len(index) == 64
    int(index, 16)
    assert ID_NUMBER not in index


def test_blind_index_depends_on_index_key_only():
    same_index_key = PiiVault([OLD_KEY], INDEX_KEY)
    other_index_key = PiiVault([NEW_KEY], INDEX_KEY + "-other")
    vault = PiiVault([NEW_KEY], INDEX_KEY)
    assert vault.blind_index(ID_NUMBER) == same_index_key.blind_index(ID_NUMBER)
    assert vault.blind_index(ID_NUMBER) != other_index_key.blind_index(ID_NUMBER)


def test_blind_index_distinguishes_values(vault):
    assert vault.blind_index("13812345678") != vault.blind_index("13812345679")


@pytest.mark.parametrize(
    "variant",
    ["11010519491231002x", "  11010519491231002X ", "１１０１０５１９４９１２３１００２Ｘ"],
)
def test_blind_index_normalises_case_width_and_whitespace(vault, variant):
    assert vault.blind_index(variant) == vault.blind_index(ID_NUMBER)


def test_blind_index_collapses_inner_whitespace(vault):
    assert vault.blind_index("Li  Lei") == vault.blind_index("li lei")
    assert vault.blind_index("Li Lei") != vault.blind_index("LiLei")


# Process-wide vault and the column type ---------------------------------------

def test_get_vault_unconfigured_raises_helpful_error(monkeypatch):
    monkeypatch.setattr(pii, "_vault", None)
    with pytest.raises(RuntimeError, match="configure_vault"):
        get_vault()


def test_configure_vault_sets_and_clears(process_vault):
    assert get_vault() is process_vault
    configure_vault(None)
    with pytest.raises(RuntimeError):
        get_vault()


def test_encrypted_string_declares_text_and_is_cacheable():
    column_type = EncryptedString()
    assert isinstance(column_type.impl_instance, sa.Text)
    assert EncryptedString.cache_ok is True


@pytest.fixture
def insured_table():
    metadata = sa.MetaData()
    table = sa.Table(
        "insured_person",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("id_number", EncryptedString()),
        sa.Column("id_number_index", sa.String(64)),
        sa.Column("name", EncryptedString(), nullable=True),
    )
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    yield engine, table
    engine.dispose()


def test_encrypted_string_sqlite_round_trip(process_vault, insured_table):
    engine, table = insured_table
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [
                {
                    "id": 1,
                    "id_number": ID_NUMBER,
                    "id_number_index": process_vault.blind_index(ID_NUMBER),
                    "name": "欧阳娜娜",
                },
                {"id": 2, "id_number": None, "id_number_index": None, "name": None},
            ],
        )

    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.id)).all()
        raw = connection.execute(
            sa.text("SELECT id_number, name FROM insured_person ORDER BY id")
        ).all()
        found = connection.execute(
            sa.select(table.c.id).where(
                table.c.id_number_index == process_vault.blind_index("11010519491231002x")
            )
        ).scalar_one()

    assert rows[0].id_number == ID_NUMBER
    assert rows[0].name == "欧阳娜娜"
    assert rows[1].id_number is None and rows[1].name is None

    stored_id_number, stored_name = raw[0]
    assert stored_id_number != ID_NUMBER
    assert ID_NUMBER not in stored_id_number
    assert "欧阳" not in stored_name
    assert process_vault.decrypt(stored_id_number) == ID_NUMBER
    assert raw[1] == (None, None)
    assert found == 1


def test_encrypted_string_read_with_wrong_vault_raises(process_vault, insured_table):
    engine, table = insured_table
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"id": 1, "id_number": ID_NUMBER}])
    configure_vault(PiiVault([OLD_KEY], INDEX_KEY))
    with engine.connect() as connection, pytest.raises(PiiDecryptError):
        connection.execute(sa.select(table.c.id_number)).all()


def test_encrypted_string_without_vault_fails_loudly(monkeypatch, insured_table):
    monkeypatch.setattr(pii, "_vault", None)
    engine, table = insured_table
    with engine.begin() as connection, pytest.raises(sa.exc.StatementError) as excinfo:
        connection.execute(table.insert(), [{"id": 1, "id_number": ID_NUMBER}])
    assert isinstance(excinfo.value.orig, RuntimeError)


# Masking ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "masker, value, expected",
    [
        (mask_id_number, ID_NUMBER, ID_NUMBER_MASKED),
        (mask_id_number, "110105194912310021", "110***********0021"),
        (mask_id_number, "12345678", "123*5678"),
        (mask_id_number, "1234567", "*******"),
        (mask_id_number, "", ""),
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, 13812345678, "138****5678"),
        (mask_phone, "1234567", "*******"),
        (mask_phone, "1", "*"),
        (mask_account, "6222021234561234", "************1234"),
        (mask_account, "6222021234567891234", "***************1234"),
        (mask_account, "6222 0212 3456 1234", "***************1234"),
        (mask_account, "12345", "*2345"),
        (mask_account, "1234", "****"),
        (mask_name, "张三", "张*"),
        (mask_name, "欧阳娜娜", "欧***"),
        (mask_name, "李", "*"),
        (mask_name, "Li Lei", "L*****"),
        (mask_name, " 王五 ", "王*"),
        (mask_name, "", ""),
        (mask_email, "zhang.san@example.com", "z********@example.com"),
        (mask_email, "a@example.com", "*@example.com"),
        (mask_email, "x@y@example.com", "x**@example.com"),
        (mask_email, "not-an-email", "************"),
        (mask_email, "", ""),
    ],
)
def test_masking_table(masker, value, expected):
    assert masker(value) == expected


ODD_INPUTS = ["", "a", "\x00", "😀😀😀", "   ", "@", "@@", 12345, 1.5, b"bytes", object()]


@pytest.mark.parametrize("kind", sorted(MASKERS))
def test_maskers_pass_none_through(kind):
    assert MASKERS[kind](None) is None
    assert mask(kind, None) is None


@pytest.mark.parametrize("kind", sorted(MASKERS))
@pytest.mark.parametrize("value", ODD_INPUTS, ids=repr)
def test_maskers_never_raise_and_return_text(kind, value):
    result = MASKERS[kind](value)
    assert isinstance(result, str)


@pytest.mark.parametrize("kind", ["id_number", "phone", "account", "email", "contact"])
@pytest.mark.parametrize("value", ["a", "12", "abc", "1234", "13812345678", ID_NUMBER])
def test_maskers_keep_length(kind, value):
    assert len(MASKERS[kind](value)) == len(value)


def test_short_values_become_all_stars():
    assert mask_id_number("1234") == "****"
    assert mask_phone("138") == "***"
    assert mask_account("12") == "**"
    assert mask_name("A") == "*"


def test_mask_dispatches_by_kind():
    assert set(MASKERS) == {"id_number", "phone", "account", "name", "email", "contact"}
    assert mask("id_number", ID_NUMBER) == ID_NUMBER_MASKED
    assert mask("phone", "13812345678") == "138****5678"
    assert mask("name", "张三") == "张*"


def test_mask_unknown_kind_raises_value_error():
    with pytest.raises(ValueError, match="unknown PII kind"):
        mask("passport", "E12345678")


# Log filter -------------------------------------------------------------------

def make_record(msg, args=None, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("wsli.test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_log_filter_masks_record_with_args():
    record = make_record(
        "insured %s mobile %s account %s", (ID_NUMBER, "13812345678", "6222021234561234")
    )
    assert PiiLogFilter().filter(record) is True
    expected = f"insured {ID_NUMBER_MASKED} mobile 138****5678 account ************1234"
    assert record.msg == expected
    assert record.args == ()
    assert record.getMessage() == expected


def test_log_filter_masks_mapping_args():
    record = make_record("phone=%(phone)s", ({"phone": "13912345678"},))
    PiiLogFilter().filter(record)
    assert record.getMessage() == "phone=139****5678"


@pytest.mark.parametrize(
    "message, expected",
    [
        ("身份证110105194912310021号", "身份证110***********0021号"),
        (f"id={ID_NUMBER.lower()}", "id=110***********002x"),
        ("手机13812345678已登记", "手机138****5678已登记"),
        ("call +8613812345678", "call +86138****5678"),
        ("call 86-13812345678", "call 86-138****5678"),
        ("card 6222021234567891234.", "card ***************1234."),
        ("card 6222021234561234,", "card ************1234,"),
        ("17 digits 11010519491231002 are an account",
         "17 digits *************1002 are an account"),
        ("15 digits 110105491231002 stay", "15 digits 110105491231002 stay"),
        ("order 2022081012345678901234 stays", "order 2022081012345678901234 stays"),
        ("12 digits 138123456789 stay", "12 digits 138123456789 stay"),
        ("ts 20220810155959 stays", "ts 20220810155959 stays"),
        ("12812345678 is not a mobile", "12812345678 is not a mobile"),
        ("nothing here", "nothing here"),
    ],
)
def test_log_filter_patterns(message, expected):
    record = make_record(message)
    PiiLogFilter().filter(record)
    assert record.getMessage() == expected


def test_log_filter_id_next_to_letters_is_not_an_id_but_still_masked_as_account():
    record = make_record("ref A110105194912310021")
    PiiLogFilter().filter(record)
    assert record.getMessage() == "ref A**************0021"


def test_log_filter_is_idempotent():
    record = make_record("mobile %s", ("13812345678",))
    log_filter = PiiLogFilter()
    log_filter.filter(record)
    log_filter.filter(record)
    assert record.getMessage() == "mobile 138****5678"


def test_log_filter_leaves_mismatched_args_alone():
    record = make_record("two %s %s", ("only-one-13812345678",))
    assert PiiLogFilter().filter(record) is True
    assert record.msg == "two %s %s"
    assert record.args == ("only-one-13812345678",)


def test_log_filter_masks_non_string_messages():
    record = make_record({"mobile": "13812345678"})
    PiiLogFilter().filter(record)
    assert record.getMessage() == "{'mobile': '138****5678'}"


def test_log_filter_masks_exception_text():
    try:
        raise ValueError(f"duplicate key (id_number)=({ID_NUMBER})")
    except ValueError:
        record = make_record("insert failed", exc_info=sys.exc_info())
    PiiLogFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "insert failed" in formatted
    assert ID_NUMBER not in formatted
    assert ID_NUMBER_MASKED in formatted


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(self.format(record))


@contextlib.contextmanager
def root_handler():
    """A list handler on the root logger; PII filters added meanwhile are removed after.

    Used inside the test body rather than as a fixture because pytest attaches
    its own (reused) capture handlers to the root logger only while the test
    runs, and those must not keep our filter.
    """
    root = logging.getLogger()
    handler = ListHandler()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for filterer in [root, *root.handlers]:
            for found in pii_filters(filterer):
                filterer.removeFilter(found)


def pii_filters(filterer):
    return [f for f in filterer.filters if isinstance(f, PiiLogFilter)]


def test_install_log_filter_masks_propagated_records():
    logger = logging.getLogger("wsli.test.install")
    with root_handler() as handler:
        try:
            installed = install_log_filter(logger)
            assert pii_filters(handler) == [installed]
            assert pii_filters(logger) == [installed]
            logging.getLogger("wsli.test.install.child").warning(
                "insured %s phone %s", ID_NUMBER, "13812345678"
            )
        finally:
            for found in pii_filters(logger):
                logger.removeFilter(found)
    assert handler.messages == [f"insured {ID_NUMBER_MASKED} phone 138****5678"]


def test_install_log_filter_is_idempotent():
    root = logging.getLogger()
    with root_handler():
        first = install_log_filter()
        second = install_log_filter()
        assert first is second
        assert pii_filters(root) == [first]
        for handler in root.handlers:
            assert pii_filters(handler) == [first]
    assert pii_filters(root) == []


@pytest.mark.parametrize("contact, masked", [
    ("13812345678", "138****5678"), ("张三 13812345678", "张三 138****5678"),
    ("王经理 010-65123456 转 8", "王经理 010*****3456 转 8"), ("+86 138 1234 5678", "+86**********5678"),
    ("请找办公室", "请找办公室"), ("", ""),
])
def test_a_contact_keeps_its_words_and_masks_its_numbers_as_phones(contact, masked):
    assert mask_contact(contact) == masked


def test_published_keys_are_refused_beyond_loopback_and_warned_about_on_it():
    import pytest as _pytest

    from shared.pii import check_published_keys, is_loopback_address
    shipped = {"PII_KEYS": "0wJayvKbPmeU7I3L_LJnXJun5uuFW6e6sb9bIzfYLpg=", "PII_INDEX_KEY": "wsli-local-index-key"}
    assert [is_loopback_address(a) for a in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.9.9.9:1",
                                             "0.0.0.0:8000", "10.0.0.5:8000", "gateway:8000")] == [
        True, True, True, True, False, False, False]
    warnings = check_published_keys(dict(shipped, WEB_SERVER_ADDRESS="127.0.0.1:8000"))
    assert [w.split()[0] for w in warnings] == ["PII_KEYS", "PII_INDEX_KEY"]
    with _pytest.raises(RuntimeError) as refused:
        check_published_keys(dict(shipped, WEB_SERVER_ADDRESS="0.0.0.0:8000"))
    assert str(refused.value).startswith("PII_KEYS and PII_INDEX_KEY still hold") and "0.0.0.0:8000" in str(refused.value)
    own = {"PII_KEYS": generate_key(), "PII_INDEX_KEY": "own", "WEB_SERVER_ADDRESS": "0.0.0.0:8000"}
    assert check_published_keys(own) == []
    # an old published key kept beside a new one for rotation is still published
    with _pytest.raises(RuntimeError):
        check_published_keys(dict(own, PII_KEYS=f"{own['PII_KEYS']},{shipped['PII_KEYS']}"))


_PIECES = st.one_of(st.text(alphabet="0123456789", min_size=1, max_size=20),
                    st.sampled_from(["X", "x", "+86", "86-", " ", "-", "号", "身份证", "a", "Z"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=8).map("".join))
def test_masking_skips_only_text_that_no_pattern_could_match(text):
    # mask_text looks for eleven digits in a row before trying its alternatives: every number
    # it masks has such a run, so its answer must be the full pattern's, whatever the text
    assert pii.mask_text(text) == pii._PII_IN_TEXT.sub(pii._mask_match, text)
