FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md beat_schedule.py ./
COPY interlock ./interlock
COPY workers ./workers
RUN pip install --no-cache-dir .
