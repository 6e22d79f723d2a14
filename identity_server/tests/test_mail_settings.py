"""Mail settings from the environment (SPEC §9, identity_server.env.email_settings): the
SMTP URL's forms, the console under no EMAIL_URL, a bad URL stopping start-up without
showing its password, and real deliveries, plain and STARTTLS, to a loopback SMTP server."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from identity_server.env import email_settings
from tenants import mail
from tests.processes import run_python
from tests.smtp import SmtpServer, use_email_url

SMTP = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE = "django.core.mail.backends.console.EmailBackend"
UNDELIVERED = "tenants.mail.UndeliveredBackend"


def _options(url: str) -> dict:
    return email_settings(url)["MAILERS"]["default"].get("OPTIONS", {})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "smtp://relay.internal",
            {"host": "relay.internal", "port": None, "use_tls": False, "use_ssl": False},
            id="plain, port by default",
        ),
        pytest.param(
            "smtp+tls://apikey:s%3Acr%40t%2F@smtp.example.com:587",
            {
                "host": "smtp.example.com",
                "port": 587,
                "use_tls": True,
                "use_ssl": False,
                "username": "apikey",
                "password": "s:cr@t/",
            },
            id="STARTTLS, percent-encoded password",
        ),
        pytest.param(
            "SMTPS://user@mail.example.com:465/",
            {
                "host": "mail.example.com",
                "port": 465,
                "use_tls": False,
                "use_ssl": True,
                "username": "user",
                "password": "",
            },
            id="implicit TLS, no password",
        ),
    ],
)
def test_an_smtp_url_gives_the_smtp_mailer(url, expected):
    settings = email_settings(url)

    assert settings["EMAIL_CONFIGURED"] is True
    assert settings["MAILERS"]["default"]["BACKEND"] == SMTP
    assert _options(url) == {**expected, "timeout": 10}


def test_no_url_is_the_console_under_debug_and_undelivered_otherwise():
    assert email_settings("  ", debug=True) == {
        "MAILERS": {"default": {"BACKEND": CONSOLE}},
        "EMAIL_CONFIGURED": False,
    }
    assert email_settings("", debug=False) == {
        "MAILERS": {"default": {"BACKEND": UNDELIVERED}},
        "EMAIL_CONFIGURED": False,
    }


def test_an_undelivered_mail_is_logged_without_its_link_or_address(settings, caplog):
    # given: a deployment without EMAIL_URL
    settings.MAILERS = email_settings("", debug=False)["MAILERS"]
    message = mail.PlainMail(
        to="ada@example.com",
        subject="Reset your password",
        body="https://id.example/accounts/password/reset/MQ/one-time-token/",
    )

    # when
    sent = message.send()

    # then: nothing sent, and the log says so without the link or the address
    assert sent == 0
    assert "Mail not sent, EMAIL_URL is not set: 'Reset your password'" in caplog.text
    assert "one-time-token" not in caplog.text and "ada@example.com" not in caplog.text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("mailto:x@example.com", "must start smtp://", id="scheme"),
        pytest.param("relay.internal:25", "must start smtp://", id="no scheme"),
        pytest.param("smtp://u:hunter2@relay:port", "port that is not a number", id="port"),
        pytest.param("smtp://u:hunter2@relay:99999", "port that is not a number", id="range"),
        pytest.param("smtp://u:hunter2@:25", "names no host", id="no host"),
        pytest.param("smtp://u:hun/ter2@relay:25", "without a path", id="unencoded /"),
        pytest.param("smtp://u:hunter2@relay:25?tls=1", "without a path", id="query"),
    ],
)
def test_a_bad_url_is_refused_without_its_password(url, message):
    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        email_settings(url)

    assert "EMAIL_URL" in str(refused.value)
    assert "hunter2" not in str(refused.value) and "hun/ter2" not in str(refused.value)


def _mail_settings(**env) -> dict:
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({'mailers': s.MAILERS, 'configured': s.EMAIL_CONFIGURED, "
        "'from': s.DEFAULT_FROM_EMAIL, 'reset': s.PASSWORD_RESET_TIMEOUT}))"
    )
    result = run_python("-c", code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_email_url_mails_go_to_the_console_under_debug_only():
    values = _mail_settings(DEBUG="true")

    assert values["mailers"] == {"default": {"BACKEND": CONSOLE}}
    assert values["configured"] is False
    assert values["reset"] == 3600
    assert _mail_settings()["mailers"] == {"default": {"BACKEND": UNDELIVERED}}


def test_the_environment_configures_starttls_and_the_sender():
    values = _mail_settings(
        EMAIL_URL="smtp+tls://mailer:pw@smtp.example.com:2587",
        DEFAULT_FROM_EMAIL="Acme Identity <identity@acme.example>",
    )

    assert values["configured"] is True
    options = values["mailers"]["default"]["OPTIONS"]
    assert (options["host"], options["port"], options["use_tls"]) == (
        "smtp.example.com",
        2587,
        True,
    )
    assert values["from"] == "Acme Identity <identity@acme.example>"


def test_a_bad_email_url_stops_start_up_with_a_clear_message():
    result = run_python("manage.py", "check", EMAIL_URL="smtp://mailer:hunter2@relay.internal:xx")

    assert result.returncode != 0
    assert "EMAIL_URL (smtp://relay.internal) has a port that is not a number." in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_the_console_backend_prints_the_mail(settings, capsys, transactional_db):
    # given
    use_email_url(settings, "")

    link = "http://127.0.0.1:8000/accounts/password/reset/MQ/" + "a1b2c3" * 12 + "/"

    # when
    body = f"Open this link:\n\n{link}\n"
    mail.mail_send_on_commit(to="ada@example.com", subject="Hello", body=body, kind="test")
    assert mail.mail_drain()

    # then: the link whole, on one line, to copy from the console
    printed = capsys.readouterr().out
    assert "To: ada@example.com" in printed and "Subject: Hello" in printed
    assert f"\n{link}\n" in printed


def test_a_mail_goes_through_starttls_with_the_urls_credentials(
    settings, monkeypatch, transactional_db
):
    # given: a server that refuses anything before STARTTLS, its CA trusted as an operator
    # trusts a private CA (SSL_CERT_FILE)
    server = SmtpServer(starttls=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
    use_email_url(settings, server.url.replace("127.0.0.1", "localhost"))
    try:
        # when
        mail.mail_send_on_commit(to="ada@example.com", subject="Hi", body="Over TLS", kind="test")
        [message] = server.wait_for(1)
    finally:
        server.stop()

    # then
    assert server.url.startswith("smtp+tls://")
    assert server.logins == [("mailer", "p@ss:w/rd")]
    assert message["Subject"] == "Hi" and message.get_content().strip() == "Over TLS"


def test_a_failed_delivery_is_logged_without_the_password(settings, caplog, transactional_db):
    # given: nobody listens on the port
    server = SmtpServer()
    use_email_url(settings, server.url)

    # when
    mail.mail_send_on_commit(to="ada@example.com", subject="Hi", body="x", kind="test")
    assert mail.mail_drain()

    # then
    assert "Sending a test mail failed: ConnectionRefusedError" in caplog.text
    assert "p@ss" not in caplog.text and "p%40ss" not in caplog.text
