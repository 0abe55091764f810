"""Routing: rules, the decision engine, RabbitMQ topology and publishing."""
