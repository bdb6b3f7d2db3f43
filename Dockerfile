# One image for the three thidua processes; docker-compose.yml picks the command:
#   thidua api | thidua worker | thidua projector
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first (this layer is rebuilt only when pyproject.toml changes): the
# project's declared dependencies, read from pyproject.toml, then the sources on top.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY domain ./domain
COPY workflows ./workflows
COPY api ./api
COPY projections ./projections
COPY thidua ./thidua
COPY deploy ./deploy
# Installed, the sources go, so that every process (`python -m ...` from /app too) imports
# the installed package, never the source folders of the working directory.
RUN pip install --no-deps . && rm -rf build *.egg-info domain workflows api projections thidua

# Never run as root. The data directory is only used by `thidua up` (embedded services),
# which production does not run; it is writable anyway.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin thidua \
    && mkdir -p /tmp/thidua && chown thidua /tmp/thidua
USER thidua

ENV THIDUA_API_HOST=0.0.0.0 \
    THIDUA_API_PORT=8000 \
    THIDUA_DATA_DIR=/tmp/thidua
EXPOSE 8000

CMD ["thidua", "api"]
