"""CyberArk's Central Credential Provider web service, requiring a client certificate.

    GET /AIMWebService/api/Accounts?AppID=…&Safe=…&Folder=…&Object=…
The TLS handshake requires a client certificate issued by `client_ca` (TLS client
authentication); the application is authenticated by its AppID and that certificate's
common name (the CCP's "allowed machines / certificate" check). Answers, as CyberArk
documents them:
    200  {"Content", "UserName", "Address", "Safe", "Folder", "Name", …}
    400  AIMWS031E  no AppID;  CASVL010E  a value with + & % ; or a space
    403  APPAP306E  the application failed authentication (unknown AppID or certificate)
    403  APPAP008E  the application may not use that safe
    404  APPAP004E  no object matches the query
Anything else (another path or method) is refused with 404 or 405.
"""

import trustme

from tests.fakes.base import FakeServer, Reply, Request

APP_ID = "UiPathOrchestrator"
SAFE = "RobotsSafe"
OTHER_SAFE = "FinanceSafe"  # exists, but APP_ID may not use it
FOLDER = "Root"
CLIENT_NAME = "orchestrator.example.test"  # the certificate's common name the app allows


class FakeCCP(FakeServer):
    def __init__(self):
        self.client_ca = trustme.CA()
        super().__init__(client_ca=self.client_ca)
        # The certificate the application is registered with, and one from the same CA
        # that is not (its handshake succeeds; the CCP refuses the application).
        self.client_cert = self.client_ca.issue_cert(CLIENT_NAME, common_name=CLIENT_NAME)
        self.other_cert = self.client_ca.issue_cert("other.example.test")

    @staticmethod
    def pem(cert) -> tuple[str, str]:
        """(certificate PEM, private key PEM) of a trustme certificate."""
        return cert.cert_chain_pems[0].bytes().decode(), cert.private_key_pem.bytes().decode()

    def reset_state(self) -> None:
        with self.lock:
            self.accounts: dict[tuple[str, str, str], dict] = {}

    def put(self, name: str, password: str, *, safe: str = SAFE, folder: str = FOLDER) -> None:
        with self.lock:
            self.accounts[(safe, folder, name)] = {
                "Content": password,
                "UserName": f"{name}-user",
                "Address": "robots.example.test",
                "Safe": safe,
                "Folder": folder,
                "Name": name,
                "PolicyID": "WinDomain",
                "DeviceType": "Operating System",
                "CreationMethod": "PVWA",
                "PasswordChangeInProcess": "False",
            }

    def handle(self, request: Request) -> Reply:
        if request.path != "/AIMWebService/api/Accounts":
            return Reply.json(404, {"ErrorCode": "AIMWS001E", "ErrorMsg": "Not found."})
        if request.method != "GET":
            return Reply.json(405, {"ErrorCode": "AIMWS002E", "ErrorMsg": "Method not allowed."})
        query = {name: values[0] for name, values in request.query.items()}
        if not query.get("AppID"):
            return _error(400, "AIMWS031E", "Invalid request. The AppID parameter is required.")
        if any(set(value) & set("+&%; ") for value in query.values()):
            return _error(400, "CASVL010E", "Invalid characters in a parameter.")
        subject = dict(pair[0] for pair in (request.client_certificate or {}).get("subject", ()))
        if query["AppID"] != APP_ID or subject.get("commonName") != CLIENT_NAME:
            return _error(
                403,
                "APPAP306E",
                f"Failed to authenticate application [{query['AppID']}] (Diagnostic Info: 53).",
            )
        safe, folder = query.get("Safe", ""), query.get("Folder", FOLDER)
        if safe == OTHER_SAFE:
            return _error(403, "APPAP008E", f"User [{APP_ID}] is not defined in safe [{safe}].")
        with self.lock:
            account = self.accounts.get((safe, folder, query.get("Object", "")))
        if account is None:
            return _error(
                404,
                "APPAP004E",
                f"Password object matching query [Safe={safe};Folder={folder};"
                f"Object={query.get('Object', '')}] was not found (Diagnostic Info: 5).",
            )
        return Reply.json(200, account)


def _error(status: int, code: str, message: str) -> Reply:
    return Reply.json(status, {"ErrorCode": code, "ErrorMsg": message})
