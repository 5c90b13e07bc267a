# The backend image (API and workers). Built by docker-compose; not built in CI here
# (no Docker engine on the CI machines).
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-mod-spatialite \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY protocol protocol
COPY geo geo
COPY backend backend
COPY data data
RUN pip install --no-cache-dir -c constraints.txt '.[backend]'
USER nobody
