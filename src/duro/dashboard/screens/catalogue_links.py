"""placeholder"""

from fastapi import APIRouter

router = APIRouter(prefix="/dashboard", include_in_schema=False)
