"""The database: schema, migrations, and the queries the gateway and admin API make."""
