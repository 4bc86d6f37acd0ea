"""The image catalogue: the runtime images users may pick, registered by admins."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dllab.db.models import Image
from dllab.errors import Conflict, NotFound
from dllab.schemas.images import ImageCreate


def list_images(session: Session, offset: int, limit: int) -> tuple[list[Image], int]:
    rows = session.scalars(select(Image).order_by(Image.framework, Image.name,
                                                  Image.framework_version.desc(), Image.tag)
                           .offset(offset).limit(limit)).all()
    return list(rows), session.scalar(select(func.count(Image.id))) or 0


def add_image(session: Session, body: ImageCreate) -> Image:
    taken = Conflict(f"image {body.name}:{body.tag} is in the catalogue already",
                     reason="image_exists")
    if session.scalar(select(Image.id).where(Image.name == body.name,
                                             Image.tag == body.tag)) is not None:
        raise taken
    image = Image(**body.model_dump())
    session.add(image)
    try:
        session.commit()
    except IntegrityError as exc:  # added by a request racing this one
        session.rollback()
        raise taken from exc
    return image


def remove_image(session: Session, image_id: int) -> None:
    image = session.get(Image, image_id)
    if image is None:
        raise NotFound(f"no image {image_id}", reason="image_not_found")
    session.delete(image)
    session.commit()


def ensure_runtime_image(session: Session) -> None:
    """An empty catalogue (a first ``dllab up``) gets the runtime image ``make images``
    builds, so that a new user can create an environment at once."""
    if session.scalar(select(func.count(Image.id))):
        return
    session.add(Image(name="dllab/runtime", tag="tf-cpu", framework="tensorflow",
                      framework_version="2.21.0", gpu=False,
                      description="TensorFlow (CPU), JupyterLab, TensorBoard and SSH; "
                                  "built by `make images`"))
    session.commit()
