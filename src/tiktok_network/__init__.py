"""tiktok-network: map the TikTok follow graph through the Research API."""

__version__ = "0.1.0"
