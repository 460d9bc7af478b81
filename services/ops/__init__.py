"""Operations: the services in start order, namespaces, and the RabbitMQ roles and users."""
