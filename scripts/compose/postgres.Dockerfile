# Local substitute of postgres:15 (make test-compose): Debian's PostgreSQL 15
# on the debootstrapped base, the official image's PGDATA, PATH, port,
# stop signal and entrypoint contract (postgres-entrypoint.sh).
ARG BASE
FROM ${BASE}
RUN rm -rf /var/lib/postgresql/15 /etc/postgresql/15
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
