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
COPY adapters ./adapters
COPY cli ./cli
COPY reports ./reports
RUN pip install .
# /app stays root-owned and read-only to the app; beat's schedule file (when each entry
# last ran) lives in a state directory the user owns, a volume so that it outlives the
# container and stays writable under a read-only root file system.
ENV CREDITCYCLE_STATE_DIR=/var/lib/creditcycle
RUN install -d -o creditcycle -g creditcycle -m 0750 /var/lib/creditcycle
VOLUME ["/var/lib/creditcycle"]
USER creditcycle
CMD ["creditcycle", "worker"]
