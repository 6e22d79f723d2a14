"""Machines for tests, made through the real services (as an admin or a script would)."""

from identity_server import services as identity_services
from machines import services
from machines.models import Machine, Robot, Session
from tenants.services import Actor

TEST_ACTOR = Actor.system("tests")
_sequence = iter(range(1, 1_000_000))


def machine_create(*, tenant, name=None, type=Machine.Type.TEMPLATE, description="") -> Machine:
    return services.machine_create(
        tenant=tenant,
        name=name or f"Machine {next(_sequence)}",
        type=type,
        description=description,
        actor=TEST_ACTOR,
    )


def machine_with_secret(*, tenant, **options) -> tuple[Machine, str]:
    """A machine and the plaintext of its first client secret."""
    machine = machine_create(tenant=tenant, **options)
    _secret, plaintext = identity_services.client_secret_create(
        client=machine.client, actor=TEST_ACTOR
    )
    return machine, plaintext


def robot_create(*, tenant, name=None, username=None, machine=None, description="") -> Robot:
    number = next(_sequence)
    return services.robot_create(
        tenant=tenant,
        name=name or f"Robot {number}",
        username=username or f"CORP\\robot{number}",
        machine=machine,
        description=description,
        actor=TEST_ACTOR,
    )


def session_create(
    *, machine, host_name=None, state=Session.State.CONNECTED, robot=None
) -> Session:
    """A session as the robot service makes it, reporting now (freeze time with the
    `clock` fixture to age it)."""
    return services.session_report(
        machine=machine,
        host_name=host_name or f"HOST-{next(_sequence)}",
        actor=TEST_ACTOR,
        state=state,
        action="session.begin",
        robot=robot,
    )
