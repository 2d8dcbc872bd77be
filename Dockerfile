# meshui's image: the web app (gunicorn), the Celery worker and beat all run from it. It holds
# no demo cluster: the API server double (devcluster/) is for tests and `make run` only.
# Build: docker build -t meshui:local .   Run: see docker-compose.yml and deploy/.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MESHUI_MANIFEST_STATIC=1

WORKDIR /app
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p meshui policies \
    && touch meshui/__init__.py policies/__init__.py \
    && pip install -e . \
    && rm -rf meshui policies

COPY manage.py ./
COPY meshui meshui
COPY policies policies
COPY templates templates
COPY static static
COPY crds crds

# Static files are collected at build time (WhiteNoise serves them, no CDN, no web server).
RUN python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --uid 10001 --home-dir /app meshui \
    && mkdir -p var && chown meshui var

USER 10001
EXPOSE 8000
CMD ["gunicorn", "meshui.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-", "--timeout", "60"]
