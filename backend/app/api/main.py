from fastapi import APIRouter, Depends

from app.api import chat
from app.api.deps import get_login, require_admin
from app.api.responses import AUTHENTICATED
from app.api.routes import (
    analyses,
    audit,
    auth,
    board,
    candidates,
    consents,
    intake,
    metrics,
    privacy,
    reports,
    shortlist,
    users,
    vacancies,
)

api_router = APIRouter(prefix="/api")
# Everything under /api needs a login except /api/auth/login; users, the audit log and erasure need an admin.
api_router.include_router(auth.router)
for router in (
    chat.router,
    candidates.router,
    vacancies.router,
    analyses.router,
    consents.router,
    intake.router,
    shortlist.router,
    metrics.usage_router,
    board.router,
    reports.router,
    users.team_router,
):
    api_router.include_router(router, dependencies=[Depends(get_login)], responses=AUTHENTICATED)
api_router.include_router(users.router, dependencies=[Depends(require_admin)], responses=AUTHENTICATED)
api_router.include_router(audit.router, dependencies=[Depends(require_admin)], responses=AUTHENTICATED)
api_router.include_router(privacy.router, dependencies=[Depends(require_admin)], responses=AUTHENTICATED)
api_router.include_router(metrics.overview_router, dependencies=[Depends(require_admin)], responses=AUTHENTICATED)
