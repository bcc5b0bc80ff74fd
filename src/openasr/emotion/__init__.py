"""Speech emotion: one of the service's seven classes for each sentence and for a whole sync request.

No registry package ships speech-emotion weights, so a classifier is loaded from the user's directory
or a model hub (`OPENASR_EMOTION_MODEL`, `--emotion-model`); without one, responses carry no `emotion`
key at all.
"""
