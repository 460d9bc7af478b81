"""Hand-written references: for each hot command, the leanest code a strong engineer would
write with raw aio-pika, asyncpg, argon2-cffi and `cryptography` for the same observable
behaviour and guarantees as Gatehouse's. `benchmarks.hand_written` measures ours against them.

Each module opens with the guarantees Gatehouse's path keeps and where the reference keeps
them: a reference that skips one is a defect in the benchmark, not a win for it.
"""
