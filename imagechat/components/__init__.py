"""UI pieces as plain functions of state vars."""
