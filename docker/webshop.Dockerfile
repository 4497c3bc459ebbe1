# hgpo local WebShop server.
#
#   docker build -f docker/webshop.Dockerfile -t hgpo-webshop .
#   docker run --rm -p 127.0.0.1:3000:3000 hgpo-webshop
#
# With no data the image serves its baked synthetic catalogue (index prebuilt at build time).
# Real data is mounted read-only and selected with WEBSHOP_* variables (or `serve` flags), e.g.
#   docker run --rm -p 127.0.0.1:3000:3000 -v "$PWD/../shared/data/webshop:/data:ro" \
#     -e WEBSHOP_CATALOG=/data/resources_1k_documents.jsonl -e WEBSHOP_INSTRUCTIONS=/data/items_ins_v2_1000.json \
#     -e WEBSHOP_TITLE_NOUNS=/data/derived/title_nouns_en_core_web_sm_3.8.0.json hgpo-webshop
FROM python:3.11-slim

ARG WEBSHOP_SYNTHETIC_PRODUCTS=1000

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HGPO_WEBSHOP_CACHE=/var/cache/hgpo-webshop \
    WEBSHOP_HOST=0.0.0.0 \
    WEBSHOP_PORT=3000 \
    WEBSHOP_WORKERS=8

RUN groupadd --system --gid 10001 webshop \
    && useradd --system --uid 10001 --gid webshop --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin webshop \
    && mkdir -p /var/cache/hgpo-webshop /data \
    && chown webshop:webshop /var/cache/hgpo-webshop

WORKDIR /opt/hgpo
# only what the server needs: the server package (it stands alone; run as `python -m servers.webshop`)
COPY pyproject.toml README.md ./
COPY servers ./servers
# the project itself is installed from source; its dependency floors are in pyproject.toml
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[webshop]"

USER 10001:10001
# bake the default catalogue's search index so the container is ready in about a second
RUN python -m servers.webshop index --synthetic-products "${WEBSHOP_SYNTHETIC_PRODUCTS}"

EXPOSE 3000
VOLUME ["/var/cache/hgpo-webshop"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('WEBSHOP_PORT', '3000'), timeout=2)"]

ENTRYPOINT ["python", "-m", "servers.webshop"]
CMD ["serve"]
