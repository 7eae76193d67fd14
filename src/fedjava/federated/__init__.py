"""Federated LoRA fine-tuning on Flower (Message API): the ServerApp, the ClientApp and the simulation.

Every client trains through :func:`fedjava.training.train_adapter`, the loop ``fedjava train`` uses;
only the trainable adapter tensors travel between the server and the clients.

Modules: ``adapter_io`` (adapter <-> Flower arrays), ``strategies`` (Flower strategies with fault
screening, resumable round numbers and savable server state), ``checkpoints``, ``devices`` (client to
GPU placement), ``common`` (configuration, seeds, data checks), ``client_app``, ``server_app`` and
``simulation`` (``fedjava federate``); ``deployment``, ``deployment_client`` and ``flower_runtime``
(``fedjava server`` / ``fedjava client``: the same apps on Flower's deployment runtime), with ``gate`` and
``gate_limits`` (the public port: the Fleet API only, bounded), ``private_link`` and ``relay`` (the SuperLink in a
network namespace of its own, its control for the operator alone) and ``server_watch`` (what the server
prints); and ``certs`` (``fedjava certs``: the CA, server certificate and client keys for it).
"""
