"""The live side's sans-I/O core: rooms with their timers, fan-out, and one class per host
or guest connection deciding the protocol. No sockets, clock or database here: the socket
edges (``host_socket``, ``guest_socket``, ``relay``) feed it and carry out what it returns.
"""
