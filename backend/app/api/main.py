from fastapi import APIRouter

from app.api import chat
from app.api.routes import analyses, candidates, vacancies

api_router = APIRouter(prefix="/api")
api_router.include_router(chat.router)
api_router.include_router(candidates.router)
api_router.include_router(vacancies.router)
api_router.include_router(analyses.router)
