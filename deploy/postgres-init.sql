-- One database per service: run apart, no service reads another's tables.
CREATE DATABASE trellis_strategy;
CREATE DATABASE trellis_okr;
CREATE DATABASE trellis_health;
CREATE DATABASE trellis_cascade;
