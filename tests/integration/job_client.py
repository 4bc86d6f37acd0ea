"""What the job integration tests do with a running lab: a user's client that uploads the
examples as code, submits jobs, waits for a status (showing every replica's log when a
job ends otherwise) and reads logs."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lab_fixture import eventually

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MOVING = ("queued", "starting", "running", "restarting")


def examples_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(EXAMPLES.glob("*.py")):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


@dataclass
class JobClient:
    user: httpx.Client
    code: str  # the examples, uploaded

    @classmethod
    def upload_examples(cls, user: httpx.Client) -> JobClient:
        upload = user.post("/api/v1/jobs/code", content=examples_archive(),
                           headers={"Content-Type": "application/gzip"})
        assert upload.status_code == 201, upload.text
        return cls(user, upload.json()["id"])

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.user.post("/api/v1/jobs", json={**body, "code": {"upload": self.code}})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def get(self, job_id: str) -> dict[str, Any]:
        return self.user.get(f"/api/v1/jobs/{job_id}").json()

    def wait(self, job_id: str, *statuses: str, timeout: float = 300) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            job = self.get(job_id)
            assert job["status"] in (*statuses, *MOVING), self.explain(job)
            return job if job["status"] in statuses else None

        return eventually(reached, f"job {job_id} {'/'.join(statuses)}", timeout)

    def log(self, job_id: str, replica: str, attempt: int | None = None) -> str:
        params: dict[str, Any] = {"replica": replica}
        if attempt:
            params["attempt"] = attempt
        answer = self.user.get(f"/api/v1/jobs/{job_id}/logs", params=params)
        assert answer.status_code == 200, answer.text
        return answer.text

    def explain(self, job: dict[str, Any]) -> str:
        logs = {r["name"]: self.log(job["id"], r["name"])[-3000:] for r in job["replicas"]}
        return json.dumps({"job": job, "logs": logs}, indent=1, default=str)
