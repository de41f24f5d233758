FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ivr ivr
COPY blocklist blocklist
COPY workers workers
COPY prompts prompts
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
