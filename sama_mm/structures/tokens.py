"""Special tokens of the InternVL / Sa2VA / SAMA prompt format (strings; ids are resolved per tokenizer)."""

IMG_START = '<img>'
IMG_END = '</img>'
# Placeholder filled with visual, context or region embeddings, in order of occurrence.
IMG_CONTEXT = '<IMG_CONTEXT>'
SEG_TOKEN = '[SEG]'
PHRASE_START = '<p>'
PHRASE_END = '</p>'
VP_START = '<vp>'
VP_END = '</vp>'
# How annotations and users mark a region prompt inside a question (replaced by a <vp> block for the LLM).
REGION_PLACEHOLDER = '<mask>'

# Added to the LLM tokenizer in this order: InternVL's tokens first, then Sa2VA/SAMA's. The order fixes the
# ids of a freshly resized tokenizer (e.g. <IMG_CONTEXT> = 151667 and [SEG] = 151674 for Qwen2.5).
INTERNVL_SPECIAL_TOKENS = (IMG_START, IMG_END, IMG_CONTEXT, '<quad>', '</quad>', '<ref>', '</ref>', '<box>', '</box>')
SAMA_SPECIAL_TOKENS = (SEG_TOKEN, PHRASE_START, PHRASE_END, VP_START, VP_END)

# Which special tokens text may contain (see ``sama_mm.datasets.transforms.tokenize.PromptEncoder``): only the chat
# template and the prompt builder insert control, image and region tokens. In a question (user text) every special
# string, `[SEG]`, `<IMG_CONTEXT>`, `<img>` and `<|im_end|>` included, is plain text encoded as ordinary sub-word
# pieces; `<mask>` is not a token but the region placeholder, replaced by a `<vp>` block before encoding. An answer
# may hold the grounding tokens below (a `[SEG]` of an answer is the mask token); any other special string in it is
# plain text as well.
ANSWER_SPECIAL_TOKENS = (SEG_TOKEN, PHRASE_START, PHRASE_END)
