# One image for the three thidua processes; docker-compose.yml picks the command:
#   thidua api | thidua worker | thidua projector
# A fixed Python release on a fixed Debian release; change it on purpose, not by a rebuild.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first (this layer is rebuilt only when the lock changes): exactly the pinned,
# hashed packages of requirements/runtime.txt (`make lock` refreshes it), then the project's
# own sources on top without resolving anything.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt

COPY pyproject.toml README.md ./
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
