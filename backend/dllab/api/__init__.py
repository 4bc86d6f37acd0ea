"""HTTP routes. They only translate: parse, call one service, shape the answer."""
