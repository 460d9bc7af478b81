"""Gatehouse's fault suite: its own RabbitMQ node(s) and PostgreSQL cluster on free ports,
Gatehouse as separate OS processes, open-loop mixed load from a second process, one fault per
scenario, then an audit in the database and on a durable event tap.

    python -m reliability                  # every scenario, one JSON line each
    python -m reliability kill9 poison_event --rate 40

See `reliability.scenarios` for what each scenario does and `reliability.audit` for what
each number counts.
"""
