# Component image of the Kubeflow pipeline (pipelines/kubeflow.py): this repository installed with
# the GPU build of TensorFlow. The tensorflow[and-cuda] wheels bring CUDA and cuDNN, so the node
# needs only the NVIDIA driver and device plugin.
#
#   docker build -t REGISTRY/lg-keras:0.1.0 . && docker push REGISTRY/lg-keras:0.1.0
#   lg pipeline compile --profile paper --image REGISTRY/lg-keras:0.1.0 --out pipeline.yaml
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /opt/lg_keras
# Only what the package needs (no runs/, data or virtual environments from the build context).
COPY setup.cfg pyproject.toml constraints.txt README.md ./
COPY lg_keras ./lg_keras
COPY components ./components
COPY pipelines ./pipelines
RUN pip install --upgrade "pip>=23.2" \
    && pip install -c constraints.txt -e ".[gpu]" \
    && python -c "import lg_keras, components.trainer.executor, kfp"
