"""Routes: open311 (being written)."""

from fastapi import APIRouter

router = APIRouter()
