# creditcycle: one image for the migration step, workers, beat and Flower.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --create-home --uid 10001 creditcycle
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY store ./store
COPY workers ./workers
COPY schedules ./schedules
RUN pip install .
USER creditcycle
CMD ["creditcycle", "worker"]
