"""Convert a seeded, untrained Keras MobileNetV2 (224x224x3, batch 1) to a float .tflite file.

Run by bench/models.py in an interpreter that has tensorflow:
    python bench/_tflite_mobilenet.py OUTPUT.tflite SEED
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def convert(seed: int) -> bytes:
    """The float32 flatbuffer of MobileNetV2 with random weights drawn from seed."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    # A fixed batch of one, as SingleStream runs it; the input tensor fixes it in the graph.
    image = keras.Input(shape=(224, 224, 3), batch_size=1, name="input")
    model = keras.applications.MobileNetV2(weights=None, input_tensor=image, classes=1000)
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def main() -> None:
    """Write the converted model to the path given on the command line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    output, seed = Path(sys.argv[1]), int(sys.argv[2])
    output.write_bytes(convert(seed))


if __name__ == "__main__":
    main()
