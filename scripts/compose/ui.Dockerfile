# Local substitute of temporalio/ui (make test-compose): the same program
# and start command as the image: the UI server of
# github.com/temporalio/ui-server/v2 at the image's tag (tools/compose pins
# it; its web assets are embedded), built static, with the module's
# config/docker.yaml (templated from TEMPORAL_* variables), in
# /home/ui-server, as user 1000, `./ui-server --env docker start`.
FROM scratch
COPY ui-server /home/ui-server/ui-server
COPY docker.yaml /home/ui-server/config/docker.yaml
WORKDIR /home/ui-server
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["./ui-server", "--env", "docker", "start"]
