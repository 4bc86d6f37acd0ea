from __future__ import annotations

from fastapi import APIRouter, Response

from dllab.api.deps import AdminUser, CurrentUser, Limit, Offset, RowId, SessionDep
from dllab.schemas.common import Page
from dllab.schemas.images import ImageCreate, ImagePublic
from dllab.services import images

router = APIRouter(prefix="/images", tags=["images"])


@router.get("", response_model=Page[ImagePublic])
def list_images(_: CurrentUser, session: SessionDep, offset: Offset = 0,
                limit: Limit = 100) -> Page[ImagePublic]:
    """The runtime images users may pick, by framework, newest version first."""
    rows, count = images.list_images(session, offset, limit)
    return Page(data=[ImagePublic.model_validate(i) for i in rows], count=count)


@router.post("", response_model=ImagePublic, status_code=201)
def add_image(body: ImageCreate, _: AdminUser, session: SessionDep) -> ImagePublic:
    """Offer an image to users (admin only). It must exist on the docker hosts: build it
    there with ``make images`` (there may be no registry)."""
    return ImagePublic.model_validate(images.add_image(session, body))


@router.delete("/{image_id}", status_code=204)
def remove_image(image_id: RowId, _: AdminUser, session: SessionDep) -> Response:
    """Take an image out of the catalogue (admin only); what runs on it goes on."""
    images.remove_image(session, image_id)
    return Response(status_code=204)
