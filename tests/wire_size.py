"""Test helper: the request bodies a client sends to deliver its adapter, computed with Flower's own serializer.

Flower 1.42's SuperNode delivers a reply in two kinds of Fleet requests (``flwr/supernode/start_client_internal.py``,
``fleet_http_connection.py``): one ``push-messages`` with the message's object tree, then one ``push-object`` per
object of the message (the RecordDict, each record, each Array, each ArrayChunk of at most 5 MiB). The gate's
body limit must admit the largest of them.
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.app.message import remove_content_from_message
from flwr.common.serde import message_to_proto
from flwr.proto.fleet_pb2 import PushMessagesRequest
from flwr.proto.message_pb2 import PushObjectRequest
from flwr.proto.node_pb2 import Node
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects, get_object_tree

ID = (1 << 64) - 1  # node and run ids: the longest varint
SESSION = "0" * 36  # a uuid4 string


def reply_like_fedjavas(arrays: ArrayRecord) -> Message:
    """A train reply as fedjava's ClientApp builds it (client_app.local_train), with these arrays."""
    from flwr.supercore.task_identity import TaskIdentity

    for attr in ("_run_id", "_node_id", "_task_id"):  # what a ClientApp process has set when it builds a reply
        if getattr(TaskIdentity, attr, None) is None:
            setattr(TaskIdentity, attr, ID)
    request = Message(RecordDict(), dst_node_id=ID, message_type="train")
    request.metadata.__dict__["_message_id"] = "f" * 64
    metrics = MetricRecord(
        {
            "num-examples": 250,
            "train_loss": 1.2345,
            "train_seconds": 310.2,
            "steps": 94,
            "tokens": 123456,
            "load_seconds": 12.5,
        }
    )
    info = ConfigRecord({"client-id": 0, "device": "cpu", "pid": 123456, "update-compression": "none"})
    return Message(RecordDict({"arrays": arrays, "metrics": metrics, "client": info}), reply_to=request)


def distinct(arrays: ArrayRecord) -> ArrayRecord:
    """``arrays`` with each its own content, as after training (a fresh adapter's zero lora_B matrices are all
    equal, and equal arrays travel as one object, which shrinks the ArrayRecord's request)."""
    out = {}
    for index, (name, array) in enumerate(arrays.items()):
        value = array.numpy().copy()
        value.flat[0] = index + 1
        out[name] = Array(value)
    return ArrayRecord(out)


def largest_request(reply: Message) -> tuple[int, str]:
    """(bytes, what): the largest request body that delivers ``reply``."""
    node = Node(node_id=ID)
    sizes = [
        (
            PushObjectRequest(
                node=node, run_id=ID, object_id=object_id, object_content=obj.deflate(), session_id=SESSION
            ).ByteSize(),
            f"push-object ({type(obj).__name__})",
        )
        for object_id, obj in get_all_nested_objects(reply).items()
    ]
    tree = get_object_tree(reply)
    sizes.append(
        (
            PushMessagesRequest(
                node=node,
                messages_list=[message_to_proto(remove_content_from_message(reply))],
                message_object_trees=[tree],
                clientapp_runtime_list=[1.0],
            ).ByteSize(),
            "push-messages",
        )
    )
    return max(sizes)


def adapter_of(model_config, lora_r: int, targets: list[str]) -> ArrayRecord:
    """The LoRA adapter fedjava would send for a model of this transformers config (built on the meta device,
    so no weights are loaded; the arrays have the adapter's real names and shapes, each its own content)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config)
        model = get_peft_model(
            model, LoraConfig(r=lora_r, lora_alpha=2 * lora_r, target_modules=targets, task_type="CAUSAL_LM")
        )
    return distinct(
        ArrayRecord(
            {
                name: Array(np.zeros(tuple(p.shape), dtype=np.float32))
                for name, p in model.named_parameters()
                if p.requires_grad
            }
        )
    )
