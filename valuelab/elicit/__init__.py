"""Getting answers out of models: backends, prompts, parsing, the response cache, pairwise elicitation.

Importing this package does not import torch, transformers, openai or anthropic; the backends do
on first use.
"""

from .cache import ResponseCache, cache_key
from .embedded import DEFAULT_MODEL, EMBEDDED_MODELS, UnknownModelError, cache_dir, embedded_model_dir
from .choice import elicit_choices, random_choice_sets
from .active import ActiveDesignResult, active_design
from .pair_designs import regular_graph_pairs
from .elicited import ElicitedChoices, ElicitedComparisons, ElicitedUtilities
from .pairwise import elicit_comparisons, elicit_utilities, position_bias
from .local_server import LocalServer
from .openai_backend import OpenAIModel, ServerError
from .anthropic_backend import AnthropicModel
from .remote import RateLimiter, usage_summary
from .serve import TransformersServe, start_transformers_serve
from .parse import is_refusal, parse_choice
from .prompts import PAIRWISE_TEMPLATES, PromptTemplate, choice_prompt, pairwise_prompt
from .transformers_backend import TransformersModel, option_token_variants

__all__ = [
    "ResponseCache",
    "cache_key",
    "DEFAULT_MODEL",
    "EMBEDDED_MODELS",
    "cache_dir",
    "embedded_model_dir",
    "UnknownModelError",
    "elicit_choices",
    "random_choice_sets",
    "active_design",
    "ActiveDesignResult",
    "regular_graph_pairs",
    "ElicitedComparisons",
    "ElicitedChoices",
    "ElicitedUtilities",
    "elicit_comparisons",
    "elicit_utilities",
    "position_bias",
    "LocalServer",
    "OpenAIModel",
    "AnthropicModel",
    "RateLimiter",
    "usage_summary",
    "TransformersServe",
    "start_transformers_serve",
    "ServerError",
    "is_refusal",
    "parse_choice",
    "PAIRWISE_TEMPLATES",
    "PromptTemplate",
    "pairwise_prompt",
    "choice_prompt",
    "TransformersModel",
    "option_token_variants",
]
