"""Console accounts from the command line: ``wsli user create|password|unlock`` (or ``python -m gateway.web.users``).

The password is read from a prompt, or from standard input with ``--password-stdin``
(for scripts); it is never an argument, which would leave it in the shell history.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys


def add_arguments(sub) -> None:
    from .accounts import LOGIN_ROLES

    create = sub.add_parser("create", help="add a console account")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=LOGIN_ROLES)
    create.add_argument("--name", help="shown on the pages; default the username")
    create.add_argument("--unit-id", type=int, help="a unit account's nominating unit")
    create.add_argument("--district", help="a regulator account's district")
    create.add_argument("--person", help="an expert's name, a lecturer's person key, an enterprise's code")
    create.add_argument("--agency", help="default: AGENCY_ID of this deployment")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(user_func=_create)
    password = sub.add_parser("password", help="set a new password (also unlocks)")
    password.add_argument("--username", required=True)
    password.add_argument("--agency")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(user_func=_password)
    unlock = sub.add_parser("unlock", help="lift a lockout after failed logins")
    unlock.add_argument("--username", required=True)
    unlock.add_argument("--agency")
    unlock.set_defaults(user_func=_unlock)


def run(args) -> int:
    return args.user_func(args)


def _engine_and_agency(args):
    from shared.catalogue import WEB
    from shared.config import load_config
    from shared.db import make_engine

    config = load_config(WEB.config_path)
    return make_engine(config["DB_URI"]), (args.agency or config["AGENCY_ID"])


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("密码: ")
    if getpass.getpass("再输一次: ") != first:
        raise SystemExit("wsli: the two passwords differ")
    return first


def _create(args) -> int:
    from sqlalchemy.orm import Session

    from shared.errors import WsliError
    from shared.workdays import utcnow

    from .accounts import create_user

    engine, agency = _engine_and_agency(args)
    password = _read_password(args)
    try:
        with Session(engine, expire_on_commit=False) as session:
            user = create_user(session, agency=agency, username=args.username, password=password, role=args.role,
                               display_name=args.name, unit_id=args.unit_id, district=args.district,
                               person=args.person, now=utcnow())
            session.commit()
    except WsliError as exc:
        print(f"wsli: {exc.message}: {json.dumps(exc.fields, ensure_ascii=False)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"created console account #{user.id} {user.username}: role={user.role} agency={user.agency_id}")
    return 0


def _find(session, agency, username):
    from sqlalchemy import select

    from .models import WebUser

    user = session.scalar(select(WebUser).where(WebUser.agency_id == agency, WebUser.username == username))
    if user is None:
        raise SystemExit(f"wsli: no console account {username!r} in agency {agency!r}")
    return user


def _password(args) -> int:
    from sqlalchemy.orm import Session

    from shared.errors import WsliError

    from .accounts import set_password

    engine, agency = _engine_and_agency(args)
    password = _read_password(args)
    try:
        with Session(engine) as session:
            set_password(session, _find(session, agency, args.username), password)
            session.commit()
    except WsliError as exc:
        print(f"wsli: {exc.message}: {json.dumps(exc.fields, ensure_ascii=False)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"password of {args.username} changed")
    return 0


def _unlock(args) -> int:
    from sqlalchemy.orm import Session

    engine, agency = _engine_and_agency(args)
    try:
        with Session(engine) as session:
            user = _find(session, agency, args.username)
            user.failed_logins, user.locked_until = 0, None
            session.commit()
    finally:
        engine.dispose()
    print(f"{args.username} unlocked")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.web.users", description=__doc__.splitlines()[0])
    add_arguments(parser.add_subparsers(dest="user_command", required=True))
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
