from fastapi import APIRouter

from app.api import chat
from app.api.routes import candidates

api_router = APIRouter(prefix="/api")
api_router.include_router(chat.router)
api_router.include_router(candidates.router)
