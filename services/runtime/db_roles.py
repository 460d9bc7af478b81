"""One PostgreSQL role per service, owning its schema and nothing else.

The services share a database, never a role: each signs in as `<prefix>_<service>` (by
default `gatehouse_identity`, `gatehouse_verification`, `gatehouse_notifier`), which owns its
schema and everything in it, and has no privilege on the other schemas (a schema's USAGE is
its owner's alone). A compromised notifier cannot read `identity.users`, nor the replies
recorded in `identity.replies`.

`gatehouse db-roles` runs `sql()` as the database owner or a superuser: it creates the roles
(with the passwords it is given, or none where PostgreSQL trusts another method), creates
the schemas with them as owners, and hands over the objects an earlier installation made in
those schemas under a shared role. It is idempotent. `gatehouse db-roles --sql` prints the
statements (the Kubernetes Cluster's `postInitApplicationSQL` is that output). Migrations
then run as each schema's owner (`services.runtime.db.migrate`).
"""

SERVICES = ("identity", "verification", "notifier")
DEFAULT_PREFIX = "gatehouse"


def role_name(prefix: str, service: str) -> str:
    return f"{prefix}_{service}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql(prefix: str = DEFAULT_PREFIX, passwords: dict[str, str] | None = None) -> str:
    """The statements that give each service its role and schema (idempotent), as a script."""
    return "\n".join(statements(prefix, passwords)) + "\n"


def statements(prefix: str = DEFAULT_PREFIX, passwords: dict[str, str] | None = None) -> list[str]:
    """`sql()` one statement at a time (the Kubernetes Cluster's `postInitApplicationSQL`)."""
    statements: list[str] = []
    for service in SERVICES:
        role, schema = role_name(prefix, service), service
        password = (passwords or {}).get(service)
        statements.append(
            f"DO $$ BEGIN\n"
            f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) THEN\n"
            f"    CREATE ROLE {_ident(role)} LOGIN;\n"
            f"  END IF;\n"
            f"END $$;"
        )
        # Nothing more than signing in: no superuser, no new databases or roles.
        statements.append(
            f"ALTER ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
            + (f" PASSWORD {_literal(password)}" if password else "")
            + ";"
        )
        # The one running this may hand objects over to the role (a superuser needs no grant).
        statements.append(
            "DO $$ BEGIN\n"
            "  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN\n"
            f"    EXECUTE format('GRANT %I TO %I', {_literal(role)}, current_user);\n"
            "  END IF;\n"
            "END $$;"
        )
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)};")
        statements.append(f"ALTER SCHEMA {_ident(schema)} OWNER TO {_ident(role)};")
        statements.append(_hand_over(schema, role))
        statements.append(f"REVOKE ALL ON SCHEMA {_ident(schema)} FROM PUBLIC;")
    return statements


def _hand_over(schema: str, role: str) -> str:
    """Tables, sequences, views, functions and types already in `schema` become `role`'s."""
    owner = f"(SELECT oid FROM pg_roles WHERE rolname = {_literal(role)})"
    return (
        "DO $$ DECLARE item record; BEGIN\n"
        "  FOR item IN SELECT format('ALTER %s %I.%I OWNER TO %I',"
        " CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'"
        " WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,"
        f" n.nspname, c.relname, {_literal(role)}) AS sql\n"
        "    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace\n"
        f"    WHERE n.nspname = {_literal(schema)} AND c.relkind IN ('r', 'p', 'S', 'v', 'm')\n"
        f"      AND c.relowner <> {owner}\n"
        # A sequence owned by a table's column follows its table.
        "      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid"
        " AND d.deptype IN ('a', 'i') AND c.relkind = 'S')\n"
        "  UNION ALL SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure,"
        f" {_literal(role)})\n"
        "    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace\n"
        f"    WHERE n.nspname = {_literal(schema)} AND p.proowner <> {owner}\n"
        "  UNION ALL SELECT format('ALTER TYPE %I.%I OWNER TO %I', n.nspname, t.typname,"
        f" {_literal(role)})\n"
        "    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace\n"
        f"    WHERE n.nspname = {_literal(schema)} AND t.typtype IN ('e', 'd', 'c')\n"
        "      AND (t.typrelid = 0"
        " OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')\n"
        f"      AND t.typowner <> {owner}\n"
        "  LOOP EXECUTE item.sql; END LOOP;\n"
        "END $$;"
    )
