"""Model export: ONNX (this package), TensorRT engines and int8 quantisation."""
