"""The fail-or-skip decision of tests/service_fixtures.py."""

import pytest

from service_fixtures import required_services, service_unavailable


def test_required_service_fails():
    with pytest.raises(pytest.fail.Exception, match="redis not reachable at redis://x:1/15"):
        service_unavailable(
            "redis", "redis://x:1/15", "refused", env={"DLLAB_TEST_REQUIRE": "redis"}
        )


def test_service_not_required_skips():
    env = {"DLLAB_TEST_REQUIRE": "postgres,docker"}
    with pytest.raises(pytest.skip.Exception, match="redis not reachable"):
        service_unavailable("redis", "redis://x:1/15", "refused", env=env)


def test_nothing_required_skips_with_the_hint():
    with pytest.raises(pytest.skip.Exception, match="services.sh"):
        service_unavailable("docker", "unix:///var/run/docker.sock", "refused", env={})


def test_require_list_is_trimmed_and_case_insensitive():
    assert required_services({"DLLAB_TEST_REQUIRE": " Redis, postgres ,,browser "}) == {
        "redis",
        "postgres",
        "browser",
    }
    assert required_services({}) == set()


def test_all_requires_every_service():
    with pytest.raises(pytest.fail.Exception):
        service_unavailable("browser", "PATH", "missing", env={"DLLAB_TEST_REQUIRE": "all"})


def test_reads_the_environment_by_default(monkeypatch):
    monkeypatch.setenv("DLLAB_TEST_REQUIRE", "docker")
    with pytest.raises(pytest.fail.Exception):
        service_unavailable("docker", "here", "down")
    monkeypatch.delenv("DLLAB_TEST_REQUIRE")
    with pytest.raises(pytest.skip.Exception):
        service_unavailable("docker", "here", "down")
