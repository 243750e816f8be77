FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events events
COPY store store
COPY workers workers
COPY gateway gateway
RUN pip install --no-cache-dir . && useradd --system --home /data reglink && mkdir -p /data && chown reglink /data
USER reglink
ENV REGLINK_DATA_DIR=/data
EXPOSE 8080
CMD ["reglink", "api", "--host", "0.0.0.0", "--port", "8080"]
